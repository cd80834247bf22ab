import type { PlatformLimits } from "../config.ts";
import type { Resources } from "../packaging/manifest-schema.ts";
import { CapabilityError } from "./capability-error.ts";

// The storage quotas of an install: what the host pays for when a plugin keeps data. Each is
// the manifest's `resources` value, never above the platform maximum (an operator lowering a
// maximum lowers it for plugins uploaded before), and the maximum when the manifest is silent
// or was stored before the quota existed.

export const MIB = 1024 * 1024;

/** The manifest field of each quota; the error names it so the author knows what to change. */
export type QuotaName = "max_db_documents" | "max_db_mb" | "max_files" | "max_disk_mb";

export interface Quotas {
  /** ctx.db documents per (tenant, plugin), over all its collections. */
  dbDocuments: number;
  /** Bytes of those documents' JSON text. */
  dbBytes: number;
  /** ctx.files files the install wrote. */
  files: number;
  /** Bytes of those files. */
  fileBytes: number;
}

export function quotasOf(resources: Partial<Resources>, limits: PlatformLimits): Quotas {
  const lowered = (asked: number | undefined, max: number) => Math.min(asked ?? max, max);
  return {
    dbDocuments: lowered(resources.max_db_documents, limits.maxDbDocuments),
    dbBytes: lowered(resources.max_db_mb, limits.maxDbMb) * MIB,
    files: lowered(resources.max_files, limits.maxFiles),
    fileBytes: lowered(resources.max_disk_mb, limits.maxDiskMb) * MIB,
  };
}

/**
 * A write refused because it would take the install past a quota; nothing was stored. Plugin
 * code sees `err.name === "QuotaExceeded"`; the message names the quota, its limit and the usage.
 */
export class QuotaExceeded extends CapabilityError {
  constructor(
    message: string,
    readonly quota: QuotaName,
    readonly used: number,
    readonly limit: number,
  ) {
    super(message, "quota_exceeded", "QuotaExceeded");
  }
}
