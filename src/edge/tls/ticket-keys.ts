/**
 * Session ticket keys shared by every edge process that shares CDN_SECRET_KEY, so a client
 * resumes its TLS session (no full handshake: one round trip and no signature less) on
 * whichever cluster worker or edge machine its next connection reaches.
 *
 * A key is derived with HKDF-SHA256 from CDN_SECRET_KEY and the current epoch (wall clock,
 * TICKET_KEY_EPOCH_MS long): every process computes the same 48 bytes (ticket name, HMAC key,
 * AES key) without talking to the others, and moves to the next key at the same instant.
 *
 * The rotation trade-off. Node holds one ticket key at a time: at each rotation the tickets
 * issued under the previous key stop resuming, and clients holding one make one full
 * handshake (a ticket lives SESSION_TIMEOUT_SECONDS, 1 h, so at most the last hour's are
 * affected; edges whose clocks differ by a few seconds disagree for those seconds only).
 * Rotating more often would cost more full handshakes; less often keeps each key, which can
 * decrypt the sessions whose tickets it sealed, in use longer. 12 h bounds that exposure to
 * half a day of tickets per key. Since every key follows from CDN_SECRET_KEY, whoever holds
 * that secret can recompute past keys: the secret already opens every certificate's private
 * key, so it must be kept as such (rotating CDN_SECRET_KEY also rotates the ticket keys).
 */
import { hkdfSync } from 'node:crypto';

export const TICKET_KEY_EPOCH_MS = 12 * 3600 * 1000;
/** Ticket name (16) + HMAC secret (16) + AES key (16), as tls.Server.setTicketKeys wants them. */
export const TICKET_KEYS_BYTES = 48;

export function ticketEpochAt(nowMs: number): number {
  return Math.floor(nowMs / TICKET_KEY_EPOCH_MS);
}

/** The keys of `epoch` for this secret: the same in every process. */
export function ticketKeysFor(secret: string, epoch: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'edgeplane', `tls session ticket keys v1 epoch ${epoch}`, TICKET_KEYS_BYTES));
}

/**
 * Sets the current epoch's keys on `server` now and again at every epoch boundary, until
 * the returned function is called. The timer does not keep the process alive.
 */
export function rotateTicketKeys(server: { setTicketKeys(keys: Buffer): void }, secret: string, now: () => number = Date.now): () => void {
  let timer: NodeJS.Timeout | undefined;
  const apply = (): void => {
    const at = now();
    const epoch = ticketEpochAt(at);
    server.setTicketKeys(ticketKeysFor(secret, epoch));
    // A few ms past the boundary, so the next call is surely in the next epoch.
    timer = setTimeout(apply, (epoch + 1) * TICKET_KEY_EPOCH_MS - at + 5);
    timer.unref();
  };
  apply();
  return () => clearTimeout(timer);
}
