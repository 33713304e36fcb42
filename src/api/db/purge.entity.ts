/** Row of the `purge` table: one purge as requested. Persistence only: see purge.mapper.ts. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { PurgeKind } from '../../core/purge.types';
import type { CustomerEntity } from './customer.entity';

@Entity({ name: 'purge' })
export class PurgeEntity {
  /** Assigned by the service (it travels in the bus event written in the same transaction). */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  @Column({ type: 'varchar', length: 8 })
  kind!: PurgeKind;

  /** Path, prefix or tag; NULL for ALL. */
  @Column({ type: 'varchar', length: 2048, nullable: true })
  value!: string | null;

  @Column({ type: 'boolean', default: false })
  soft!: boolean;

  /** The outbox seq of the purge's change; bigint, so a string from pg (Number() where read). */
  @Column({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  /** Set once, when every live edge had applied it. */
  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  /** Who asked: the principal's kind (and token id once scoped tokens exist). */
  @Column({ name: 'requested_by', type: 'varchar', length: 200, nullable: true })
  requestedBy!: string | null;

  // A string target avoids a runtime import cycle between entity files.
  @ManyToOne('CustomerEntity', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: CustomerEntity;
}
