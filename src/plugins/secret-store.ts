import type { PrismaClient } from "../generated/prisma/client.ts";
import { createSecretCipher } from "./secret-cipher.ts";

/** Secrets of installs, AES-256-GCM at rest; the AAD ties each ciphertext to its install and name. */
export class SecretStore {
  private readonly cipher: ReturnType<typeof createSecretCipher>;

  constructor(
    private readonly prisma: PrismaClient,
    key: Buffer,
  ) {
    this.cipher = createSecretCipher(key);
  }

  async put(installId: string, name: string, value: string): Promise<void> {
    const ciphertext = this.cipher.encrypt(value, `${installId}:${name}`);
    await this.prisma.secret.upsert({
      where: { installId_name: { installId, name } },
      create: { installId, name, ciphertext },
      update: { ciphertext },
    });
  }

  async get(installId: string, name: string): Promise<string | undefined> {
    const row = await this.prisma.secret.findUnique({ where: { installId_name: { installId, name } } });
    return row ? this.cipher.decrypt(Buffer.from(row.ciphertext), `${installId}:${name}`) : undefined;
  }

  /** Every secret of an install, decrypted: one read for a webhook delivery's placeholders. */
  async getAll(installId: string): Promise<Map<string, string>> {
    const rows = await this.prisma.secret.findMany({ where: { installId }, select: { name: true, ciphertext: true } });
    return new Map(rows.map((r) => [r.name, this.cipher.decrypt(Buffer.from(r.ciphertext), `${installId}:${r.name}`)]));
  }

  /** Names and update times only: values never leave through the API. */
  async list(installId: string): Promise<{ name: string; updated_at: string }[]> {
    const rows = await this.prisma.secret.findMany({ where: { installId }, orderBy: { name: "asc" }, select: { name: true, updatedAt: true } });
    return rows.map((r) => ({ name: r.name, updated_at: r.updatedAt.toISOString() }));
  }
}
