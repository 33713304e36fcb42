/** Row of the `certificate` table: one certificate of a customer. Persistence only: see certificate.mapper.ts. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { CertificateSource, CertificateStatus } from '../domain/certificate.types';

@Entity({ name: 'certificate' })
export class CertificateEntity {
  /** Assigned by the api (it travels to the edges in the customer's config). */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  @Column({ type: 'text', array: true })
  domains!: string[];

  @Column({ type: 'varchar', length: 16 })
  source!: CertificateSource;

  @Column({ type: 'varchar', length: 16 })
  status!: CertificateStatus;

  @Column({ name: 'cert_pem', type: 'text', nullable: true })
  certPem!: string | null;

  /** secret-box ciphertext of the PKCS#8 PEM key; the plaintext never touches the database. */
  @Column({ name: 'key_enc', type: 'text', nullable: true })
  keyEnc!: string | null;

  @Column({ name: 'not_before', type: 'timestamptz', nullable: true })
  notBefore!: Date | null;

  @Column({ name: 'not_after', type: 'timestamptz', nullable: true })
  notAfter!: Date | null;

  @Column({ type: 'text', nullable: true })
  issuer!: string | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'renew_at', type: 'timestamptz', nullable: true })
  renewAt!: Date | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  // The owning side of CustomerEntity.certificates, named by string so that neither entity file imports the other.
  @ManyToOne('CustomerEntity', 'certificates', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: { id: string };
}
