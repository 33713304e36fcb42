/** Row of the `warm_edge` table: one edge's progress with one warm, as its reports said. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { WarmEdgeStored } from '../domain/warm.types';
import type { WarmEntity } from './warm.entity';

@Entity({ name: 'warm_edge' })
export class WarmEdgeEntity {
  @PrimaryColumn({ name: 'warm_id', type: 'uuid' })
  warmId!: string;

  /** The machine: CDN_EDGE_ID. */
  @PrimaryColumn({ name: 'edge_id', type: 'varchar', length: 200 })
  edgeId!: string;

  @Column({ type: 'varchar', length: 8 })
  state!: WarmEdgeStored;

  @Column({ name: 'urls_done', type: 'integer' })
  urlsDone!: number;

  @Column({ name: 'urls_failed', type: 'integer' })
  urlsFailed!: number;

  /** The fleet id of the process that reported (a cluster worker); NULL until a report. */
  @Column({ name: 'process_id', type: 'varchar', length: 200, nullable: true })
  processId!: string | null;

  @Column({ name: 'process_started_at', type: 'timestamptz', nullable: true })
  processStartedAt!: Date | null;

  /** The edge's time of the report kept; NULL until a report. */
  @Column({ name: 'reported_at', type: 'timestamptz', nullable: true })
  reportedAt!: Date | null;

  @ManyToOne('WarmEntity', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'warm_id' })
  warm?: WarmEntity;
}
