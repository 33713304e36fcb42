/** Row of the `signing_key` table: one key of a customer's signed URLs. Persistence only. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

@Entity({ name: 'signing_key' })
export class SigningKeyEntity {
  @PrimaryColumn({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  /** The key id signed URLs carry (`ep_kid`). */
  @PrimaryColumn({ type: 'varchar', length: 8 })
  id!: string;

  /** secret-box ciphertext; the plaintext is shown once, when the key is created. */
  @Column({ name: 'secret_enc', type: 'text' })
  secretEnc!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  // The owning side of CustomerEntity.signingKeys, named by string (see certificate.entity.ts).
  @ManyToOne('CustomerEntity', 'signingKeys', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: { id: string };
}
