/** Row of the `domain` table: one hostname, owned by exactly one customer. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

@Entity({ name: 'domain' })
export class DomainEntity {
  /** Normalised (lower case, no trailing dot); the primary key makes it unique across customers. */
  @PrimaryColumn({ type: 'varchar', length: 253 })
  hostname!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  // The owning side of CustomerEntity.domains, named by string and left untyped so that
  // neither entity file imports the other (its shape, not its class); code reads customerId.
  @ManyToOne('CustomerEntity', 'domains', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: { id: string };
}
