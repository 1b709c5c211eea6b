@echo off
rem Starts stickvm from this stick on Windows: double-click, or run.cmd [command] [options].
rem The command is "run" when none is given; --stick is always this folder.
setlocal
set "STICK=%~dp0"
if "%STICK:~-1%"=="\" set "STICK=%STICK:~0,-1%"
if not exist "%STICK%\stickvm-win-x64.exe" (
  echo stickvm: %STICK%\stickvm-win-x64.exe is missing: this stick has no launcher for Windows 1>&2
  exit /b 1
)
if "%~1"=="" (
  "%STICK%\stickvm-win-x64.exe" run --stick "%STICK%"
) else (
  "%STICK%\stickvm-win-x64.exe" %* --stick "%STICK%"
)
exit /b %ERRORLEVEL%
