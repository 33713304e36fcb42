/** Row of the `purge_edge` table: one edge's acknowledgement of one purge. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { PurgeEntity } from './purge.entity';

@Entity({ name: 'purge_edge' })
export class PurgeEdgeEntity {
  @PrimaryColumn({ name: 'purge_id', type: 'uuid' })
  purgeId!: string;

  @PrimaryColumn({ name: 'edge_id', type: 'varchar', length: 200 })
  edgeId!: string;

  @Column({ name: 'applied_at', type: 'timestamptz' })
  appliedAt!: Date;

  /** bigint: a string from pg, converted with Number() where read. */
  @Column({ name: 'objects_removed', type: 'bigint', default: 0 })
  objectsRemoved!: string;

  @ManyToOne('PurgeEntity', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'purge_id' })
  purge?: PurgeEntity;
}
