// What this server promises (block sizes) and what it allows itself to buffer.

/** NBD_INFO_BLOCK_SIZE: any byte alignment works (layers read-modify-write), 4 KiB is the layers' block. */
export const MIN_BLOCK_SIZE = 1;
export const PREFERRED_BLOCK_SIZE = 4096;
/** The largest READ or WRITE; also the most a TRIM or WRITE_ZEROES hands a device in one call. */
export const MAX_BLOCK_SIZE = 32 * 1024 * 1024;

/** Option payloads are names and queries: anything larger is refused without being buffered. */
export const MAX_OPTION_BYTES = 64 * 1024;

/** Per connection: requests being served at once, and bytes of payloads and replies held for them. */
export const MAX_REQUESTS_IN_FLIGHT = 64;
export const MAX_BYTES_IN_FLIGHT = 4 * 1024 * 1024;

/** READ reply buffers kept for reuse, lent or free, across every connection (read-buffers.ts). */
export const POOLED_READ_BYTES = 8 * 1024 * 1024;

/** Descriptors in one BLOCK_STATUS reply; clients ask again from where it stops. */
export const MAX_EXTENTS_PER_REPLY = 16 * 1024;

/** The id of base:allocation, the only metadata context. */
export const BASE_ALLOCATION_ID = 1;

/** How long close() lets a connection drain its replies before cutting it. */
export const CLOSE_GRACE_MS = 2000;
