/** Row of the `change_log` outbox. The relay publishes rows to the bus in `seq` order. */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { BusEvent } from '../../core/bus.events';

@Entity({ name: 'change_log' })
export class ChangeLogEntity {
  /** bigint: pg hands it back as a string, converted with Number() where read. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 63, nullable: true })
  customerId!: string | null;

  @Column({ type: 'jsonb' })
  payload!: BusEvent;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
