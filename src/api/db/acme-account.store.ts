/**
 * The ACME account key per directory: read, or kept once (the first replica to generate one
 * wins; the others read its key back, so every replica orders as one account).
 */
import { AcmeAccountEntity } from './acme-account.entity';
import type { Tx } from './database';

/** The sealed key of the account for `directoryUrl`, or null when none is kept yet. */
export async function readAcmeAccountKey(m: Tx, directoryUrl: string): Promise<string | null> {
  const row = await m.getRepository(AcmeAccountEntity).findOne({ where: { directoryUrl } });
  return row?.keyEnc ?? null;
}

/** Keeps `keyCiphertext` unless a key is already kept for the directory; returns the one kept. */
export async function keepAcmeAccountKey(m: Tx, directoryUrl: string, keyCiphertext: string, email: string | null): Promise<string> {
  await m.query(
    'INSERT INTO "acme_account" ("directory_url", "key_enc", "email", "created_at") VALUES ($1, $2, $3, now()) ON CONFLICT ("directory_url") DO NOTHING',
    [directoryUrl, keyCiphertext, email],
  );
  return (await readAcmeAccountKey(m, directoryUrl))!;
}
