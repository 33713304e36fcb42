/**
 * Row of the `acme_challenge` table: one ACME HTTP-01 challenge in progress, which every
 * edge answers at `/.well-known/acme-challenge/<token>` for the customer's domain. Goes with
 * its customer and its certificate. Persistence only.
 */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

@Entity({ name: 'acme_challenge' })
export class AcmeChallengeEntity {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  token!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  @Column({ name: 'certificate_id', type: 'uuid' })
  certificateId!: string;

  @Column({ type: 'varchar', length: 253 })
  domain!: string;

  @Column({ name: 'key_authorization', type: 'text' })
  keyAuthorization!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  // The owning side of CustomerEntity.acmeChallenges, named by string (see certificate.entity.ts).
  @ManyToOne('CustomerEntity', 'acmeChallenges', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: { id: string };
}
