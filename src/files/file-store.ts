import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { pathProblems } from "../packaging/package-path.ts";

export interface StoredFile {
  id: string;
  path: string;
  size: number;
  content_type: string;
  sha256: string;
  created_at: string;
  updated_at: string;
}

/**
 * Tenant file storage: metadata in the `files` table, bytes on disk under
 * DATA_DIR/files/<tenant id>/<file id>. The logical path a user or plugin gives is never used
 * as a disk path, so no name can escape the tenant's folder.
 */
export class FileStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly root: string,
  ) {}

  /** Creates or replaces the file at `logicalPath`. */
  async put(tenantId: string, logicalPath: string, content: Buffer, contentType: string): Promise<{ file: StoredFile; created: boolean }> {
    checkPath(logicalPath);
    const existing = await this.prisma.tenantFile.findUnique({ where: { tenantId_path: { tenantId, path: logicalPath } } });
    const id = existing?.id ?? randomUUID();
    const dir = path.join(this.root, tenantId);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, id), content);
    const data = { size: content.length, contentType, sha256: createHash("sha256").update(content).digest("hex") };
    const row = existing
      ? await this.prisma.tenantFile.update({ where: { id }, data })
      : await this.prisma.tenantFile.create({ data: { id, tenantId, path: logicalPath, ...data } });
    return { file: fileView(row), created: !existing };
  }

  async list(tenantId: string, prefix = ""): Promise<StoredFile[]> {
    const rows = await this.prisma.tenantFile.findMany({ where: { tenantId, path: { startsWith: prefix } }, orderBy: { path: "asc" }, take: 1000 });
    return rows.map(fileView);
  }

  async get(tenantId: string, id: string): Promise<StoredFile> {
    const row = /^[0-9a-f-]{36}$/i.test(id) ? await this.prisma.tenantFile.findFirst({ where: { id, tenantId } }) : null;
    if (!row) throw new AppError("not_found", "No such file");
    return fileView(row);
  }

  async content(tenantId: string, id: string): Promise<Buffer> {
    const file = await this.get(tenantId, id);
    return readFile(path.join(this.root, tenantId, file.id));
  }

  async delete(tenantId: string, id: string): Promise<StoredFile> {
    const file = await this.get(tenantId, id);
    await this.prisma.tenantFile.delete({ where: { id: file.id } });
    await rm(path.join(this.root, tenantId, file.id), { force: true });
    return file;
  }
}

function checkPath(p: string): void {
  const problems = p.length > 512 ? ["the path is longer than 512 characters"] : p.endsWith("/") ? ["the path names a folder"] : pathProblems(p);
  if (problems.length) throw new AppError("invalid_request", `Bad file path: ${problems.join("; ")}`, { path: p });
}

function fileView(r: { id: string; path: string; size: number; contentType: string; sha256: string; createdAt: Date; updatedAt: Date }): StoredFile {
  return {
    id: r.id,
    path: r.path,
    size: r.size,
    content_type: r.contentType,
    sha256: r.sha256,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}
