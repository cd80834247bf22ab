import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.ts";
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { pathProblems } from "../packaging/package-path.ts";

export interface StoredFile {
  id: string;
  path: string;
  size: number;
  content_type: string;
  sha256: string;
  /** The install that last wrote it through ctx.files; null when the host API did. */
  install_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface PutOptions {
  /** The install writing through ctx.files (recorded on the row); absent for the host API. */
  installId?: string;
  /** The install's max_disk_mb in bytes: checked against its files, under a lock, before the write lands. */
  quotaBytes?: number;
  /** The install's max_files: how many files it may have written; checked with quotaBytes, under the same lock. */
  quotaFiles?: number;
  /** Writes more in the same transaction, once the row is written (the host API's event): a throw undoes the write. */
  inTransaction?: (tx: Tx, written: { file: StoredFile; created: boolean }) => Promise<void>;
}

/** What a listing returns at most, for the host API and plugins alike. */
export const MAX_LIST = 1000;
export const MAX_PATH_LENGTH = 512;

/** A write that would take an install past its max_disk_mb; nothing was stored. */
export class QuotaExceededError extends Error {
  constructor(
    /** Bytes the install's files take now. */
    readonly usedBytes: number,
    /** What they would take after the write (the replaced file's old size no longer counts). */
    readonly wouldUseBytes: number,
    readonly limitBytes: number,
  ) {
    super(`the write would bring the install's files to ${wouldUseBytes} bytes; the limit is ${limitBytes} bytes (${usedBytes} used)`);
    this.name = "QuotaExceededError";
  }
}

/** A new file that would give an install more than its max_files; nothing was stored. */
export class FileCountExceededError extends Error {
  constructor(
    /** Files the install wrote that are there now. */
    readonly usedFiles: number,
    readonly limitFiles: number,
  ) {
    super(`the write would give the install ${usedFiles + 1} files; the limit is ${limitFiles}`);
    this.name = "FileCountExceededError";
  }
}

type Row = {
  id: string;
  tenantId: string;
  path: string;
  size: number;
  contentType: string;
  sha256: string;
  installId: string | null;
  createdAt: Date;
  updatedAt: Date;
};
type Tx = Prisma.TransactionClient;

// Waiting for the tenant's write lock counts against this; writes themselves only rename a file.
const TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/**
 * Tenant file storage: metadata in the `files` table, bytes on disk under
 * DATA_DIR/files/<tenant id>/<file id>. The logical path a user or plugin gives is never used
 * as a disk path, so no name can escape the tenant's folder. The host API (by id) and ctx.files
 * (by path) share this store and its one set of path rules.
 */
export class FileStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly root: string,
  ) {}

  /**
   * Creates or replaces the file at `logicalPath`. The row records who wrote it last
   * (`installId`, or null for the host API); with `quotaBytes` / `quotaFiles` the install's
   * totals are checked first.
   */
  async put(tenantId: string, logicalPath: string, content: Buffer, contentType: string, opts: PutOptions = {}): Promise<{ file: StoredFile; created: boolean }> {
    checkPath(logicalPath);
    if ((opts.quotaBytes !== undefined || opts.quotaFiles !== undefined) && !opts.installId) throw new Error("FileStore.put: a quota needs the installId it applies to");
    const dir = this.tenantDir(tenantId);
    await mkdir(dir, { recursive: true });
    // why: the bytes are staged under a name no row uses and renamed into place last, so a
    // reader never sees half a file and a refused or failed write leaves the old file intact.
    const staged = path.join(dir, `staged-${randomUUID()}`);
    await writeFile(staged, content);
    try {
      return await this.prisma.$transaction(async (tx) => {
        await lockTenantWrites(tx, tenantId);
        const existing = await tx.tenantFile.findUnique({ where: { tenantId_path: { tenantId, path: logicalPath } } });
        if (opts.quotaBytes !== undefined || opts.quotaFiles !== undefined) await checkQuota(tx, tenantId, opts.installId!, existing, content.length, opts);
        const id = existing?.id ?? randomUUID();
        const data = { size: content.length, contentType, sha256: sha256(content), installId: opts.installId ?? null };
        const row = existing
          ? await tx.tenantFile.update({ where: { id }, data })
          : await tx.tenantFile.create({ data: { id, tenantId, path: logicalPath, ...data } });
        const written = { file: fileView(row), created: !existing };
        // Before the bytes move into place: until then a throw leaves the old file as it was.
        await opts.inTransaction?.(tx, written);
        await rename(staged, path.join(dir, id));
        return written;
      }, TX_OPTIONS);
    } finally {
      await rm(staged, { force: true });
    }
  }

  /** The tenant's files whose path starts with `prefix`, by path, at most MAX_LIST. */
  async list(tenantId: string, prefix = ""): Promise<StoredFile[]> {
    const rows = await this.prisma.tenantFile.findMany({ where: { tenantId, path: { startsWith: likeLiteral(prefix) } }, orderBy: { path: "asc" }, take: MAX_LIST });
    // why: should the escaping above ever be doubled, a listing shrinks rather than widens.
    return rows.filter((r) => r.path.startsWith(prefix)).map(fileView);
  }

  async get(tenantId: string, id: string): Promise<StoredFile> {
    const row = /^[0-9a-f-]{36}$/i.test(id) ? await this.prisma.tenantFile.findFirst({ where: { id, tenantId } }) : null;
    if (!row) throw new AppError("not_found", "No such file");
    return fileView(row);
  }

  /** The file at `logicalPath`, or null. */
  async findByPath(tenantId: string, logicalPath: string): Promise<StoredFile | null> {
    checkPath(logicalPath);
    const row = await this.prisma.tenantFile.findUnique({ where: { tenantId_path: { tenantId, path: logicalPath } } });
    return row ? fileView(row) : null;
  }

  async content(tenantId: string, id: string): Promise<Buffer> {
    const file = await this.get(tenantId, id);
    return readFile(path.join(this.tenantDir(tenantId), file.id));
  }

  /** The bytes of a file found earlier; null when it was deleted since. */
  async contentOf(tenantId: string, file: StoredFile): Promise<Buffer | null> {
    try {
      return await readFile(path.join(this.tenantDir(tenantId), file.id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /** `inTransaction` writes more with the deletion (the host API's event): a throw keeps the file. */
  async delete(tenantId: string, id: string, opts: { inTransaction?: (tx: Tx, file: StoredFile) => Promise<void> } = {}): Promise<StoredFile> {
    const file = await this.get(tenantId, id);
    const removed = await this.remove(tenantId, (tx) => tx.tenantFile.findFirst({ where: { id: file.id, tenantId } }), opts.inTransaction);
    if (!removed) throw new AppError("not_found", "No such file");
    return removed;
  }

  /** Deletes the file at `logicalPath`; null when there was none. */
  async deleteByPath(tenantId: string, logicalPath: string): Promise<StoredFile | null> {
    checkPath(logicalPath);
    return this.remove(tenantId, (tx) => tx.tenantFile.findUnique({ where: { tenantId_path: { tenantId, path: logicalPath } } }));
  }

  /** Bytes taken by the tenant's files that `installId` wrote last (what max_disk_mb limits). */
  async usedBytes(tenantId: string, installId: string): Promise<number> {
    return (await usageOf(this.prisma, tenantId, installId)).bytes;
  }

  /** The files `installId` wrote last and their bytes: what max_files and max_disk_mb limit. */
  async usage(tenantId: string, installId: string): Promise<{ files: number; bytes: number }> {
    return usageOf(this.prisma, tenantId, installId);
  }

  private async remove(tenantId: string, find: (tx: Tx) => Promise<Row | null>, inTransaction?: (tx: Tx, file: StoredFile) => Promise<void>): Promise<StoredFile | null> {
    const row = await this.prisma.$transaction(async (tx) => {
      await lockTenantWrites(tx, tenantId);
      const found = await find(tx);
      if (found) {
        await tx.tenantFile.delete({ where: { id: found.id } });
        await inTransaction?.(tx, fileView(found));
      }
      return found;
    }, TX_OPTIONS);
    if (!row) return null;
    await rm(path.join(this.tenantDir(tenantId), row.id), { force: true });
    return fileView(row);
  }

  private tenantDir(tenantId: string): string {
    // why: the tenant id comes from authentication, but it still names a folder; only a uuid may.
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenantId)) throw new Error(`FileStore: tenant id ${JSON.stringify(tenantId)} is not a uuid`);
    return path.join(this.root, tenantId);
  }
}

/**
 * Why `p` is not a usable file path (empty when it is): relative, `/`-separated, canonical (no
 * `.`, `..` or empty segments), no backslash, NUL or control character, at most 512 characters,
 * not a folder. The one rule set of the host API and ctx.files.
 */
export function filePathProblems(p: string): string[] {
  if (p.endsWith("/")) return [...commonProblems(p), "the path names a folder (it ends with /)"];
  return commonProblems(p);
}

/** Why `prefix` cannot filter a listing: "" lists everything, a trailing "/" is allowed, otherwise as filePathProblems. */
export function filePrefixProblems(prefix: string): string[] {
  return prefix === "" ? [] : commonProblems(prefix);
}

function commonProblems(p: string): string[] {
  if (p.length > MAX_PATH_LENGTH) return [`the path is longer than ${MAX_PATH_LENGTH} characters`];
  // why: the package rules are the same rules; only their wording speaks of packages.
  const problems = pathProblems(p).map((m) => m.replace(/^the name/, "the path").replace("the package", "the tenant's files"));
  if (/[\u0001-\u001f\u007f]/.test(p)) problems.push("the path contains a control character");
  return problems;
}

function checkPath(p: string): void {
  const problems = filePathProblems(p);
  if (problems.length) throw new AppError("invalid_request", `Bad file path: ${problems.join("; ")}`, { path: p });
}

// why: one lock per tenant serialises its writes across processes, so a quota check and the
// write it allows cannot interleave with another write, nor two creations of the same path.
async function lockTenantWrites(tx: Tx, tenantId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`files:${tenantId}`}))`;
}

async function checkQuota(tx: Tx, tenantId: string, installId: string, existing: Row | null, size: number, opts: PutOptions): Promise<void> {
  const used = await usageOf(tx, tenantId, installId);
  // why: a replaced file stops counting; it only counted for this install if this install wrote it
  // (a file the host or another install wrote becomes this install's, so it is one more).
  const mine = existing !== null && existing.installId === installId;
  if (opts.quotaFiles !== undefined && !mine && used.files >= opts.quotaFiles) throw new FileCountExceededError(used.files, opts.quotaFiles);
  if (opts.quotaBytes === undefined) return;
  const wouldUse = used.bytes - (mine ? existing.size : 0) + size;
  if (wouldUse > opts.quotaBytes) throw new QuotaExceededError(used.bytes, wouldUse, opts.quotaBytes);
}

async function usageOf(db: Tx | PrismaClient, tenantId: string, installId: string): Promise<{ files: number; bytes: number }> {
  const agg = await db.tenantFile.aggregate({ where: { tenantId, installId }, _sum: { size: true }, _count: { _all: true } });
  return { files: agg._count._all, bytes: agg._sum.size ?? 0 };
}

// why: Prisma hands `startsWith` to LIKE without escaping, so "a_" would also list "ab/…".
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function fileView(r: Row): StoredFile {
  return {
    id: r.id,
    path: r.path,
    size: r.size,
    content_type: r.contentType,
    sha256: r.sha256,
    install_id: r.installId,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}
