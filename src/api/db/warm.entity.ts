/** Row of the `warm` table: one cache warm as requested. Persistence only: see warm.mapper.ts. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { WarmTarget } from '../../core/warm.types';
import type { CustomerEntity } from './customer.entity';

@Entity({ name: 'warm' })
export class WarmEntity {
  /** Assigned by the service (it travels in the bus event written in the same transaction). */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  /** The one edge (CDN_EDGE_ID) that warms it; NULL: every edge. */
  @Column({ name: 'edge_id', type: 'varchar', length: 200, nullable: true })
  edgeId!: string | null;

  @Column({ type: 'jsonb' })
  urls!: WarmTarget[];

  @Column({ name: 'url_count', type: 'integer' })
  urlCount!: number;

  /** The outbox seq of the warm's change; bigint, so a string from pg (Number() where read). */
  @Column({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  /** Set once, when no edge of it was still pending or warming. */
  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'requested_by', type: 'varchar', length: 200, nullable: true })
  requestedBy!: string | null;

  // A string target avoids a runtime import cycle between entity files.
  @ManyToOne('CustomerEntity', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: CustomerEntity;
}
