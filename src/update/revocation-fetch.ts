import type { StickHeader } from "../../stick-layout/header.js";
import { MAX_REVOKED, parseRevocationList, type RevocationList } from "../../stick-layout/revocation.js";
import { UpdateRefusedError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { fetchBytes, repositoryUrl } from "./http-get.js";
import { REPOSITORY_FILES } from "./publish.js";

/**
 * The update repository's revocation list (FORMAT.md §28.2), fetched and checked against the
 * stick's pinned admin key and lineage. UpdateRefusedError when it is not the admin's; the
 * fetch's own error (UpdateFetchError) when the repository does not answer.
 */
export async function fetchRevocationList(o: { url: URL; header: Pick<StickHeader, "adminPublicKey" | "lineageId">; timeoutMs: number; signal?: AbortSignal }): Promise<RevocationList> {
  const bytes = await fetchBytes(repositoryUrl(o.url, REPOSITORY_FILES.revoked), { maxBytes: 72 + 16 * MAX_REVOKED + 64, timeoutMs: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
  try {
    return parseRevocationList(bytes, o.header.adminPublicKey, o.header.lineageId);
  } catch (err) {
    if (err instanceof LayoutError) throw new UpdateRefusedError(`${REPOSITORY_FILES.revoked} from ${o.url.href}: ${err.message}`);
    throw err;
  }
}
