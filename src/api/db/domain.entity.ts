/** Row of the `domain` table: one hostname, owned by exactly one customer. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { CustomerEntity } from './customer.entity';

@Entity({ name: 'domain' })
export class DomainEntity {
  /** Normalised (lower case, no trailing dot); the primary key makes it unique across customers. */
  @PrimaryColumn({ type: 'varchar', length: 253 })
  hostname!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  // A string target avoids a runtime import cycle between the two entity files.
  @ManyToOne('CustomerEntity', 'domains', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: CustomerEntity;
}
