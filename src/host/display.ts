export interface DisplayReport {
  available: boolean;
  /** What gave the answer: the variable and its value, or the OS's own window system. */
  how: string;
}

/** Whether the player can open a window. On Linux and other Unixes only a set DISPLAY or WAYLAND_DISPLAY says so. */
export function detectDisplay(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): DisplayReport {
  if (platform === "win32" || platform === "darwin") return { available: true, how: "the desktop's own window system" };
  const set: string[] = [];
  for (const name of ["WAYLAND_DISPLAY", "DISPLAY"] as const) {
    const value = env[name];
    if (value !== undefined && value !== "") set.push(`${name}=${value}`);
  }
  return set.length > 0 ? { available: true, how: set.join(", ") } : { available: false, how: "neither DISPLAY nor WAYLAND_DISPLAY is set" };
}
