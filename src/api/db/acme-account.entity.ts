/**
 * Row of the `acme_account` table: the account the api orders certificates as, per ACME
 * directory, its key sealed with CDN_SECRET_KEY. Persistence only.
 */
import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'acme_account' })
export class AcmeAccountEntity {
  @PrimaryColumn({ name: 'directory_url', type: 'text' })
  directoryUrl!: string;

  /** secret-box ciphertext of the account's private key (PEM). */
  @Column({ name: 'key_enc', type: 'text' })
  keyEnc!: string;

  @Column({ type: 'text', nullable: true })
  email!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
