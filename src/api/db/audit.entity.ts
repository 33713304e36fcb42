/** Row of the `audit_log` table: one mutation root field as run. Persistence only. */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'audit_log' })
export class AuditEntity {
  /** bigint: pg hands it back as a string. Also the newest-first order. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  /** When the mutation was about to run. */
  @Column({ type: 'timestamptz' })
  at!: Date;

  /** When its outcome was recorded; NULL: never seen to end. */
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ name: 'actor_kind', type: 'varchar', length: 32 })
  actorKind!: string;

  @Column({ name: 'actor_role', type: 'varchar', length: 32 })
  actorRole!: string;

  @Column({ name: 'actor_token_id', type: 'varchar', length: 64, nullable: true })
  actorTokenId!: string | null;

  @Column({ name: 'actor_customer_id', type: 'varchar', length: 63, nullable: true })
  actorCustomerId!: string | null;

  @Column({ name: 'operation_name', type: 'varchar', length: 200, nullable: true })
  operationName!: string | null;

  @Column({ type: 'varchar', length: 100 })
  mutation!: string;

  /** Redacted before it gets here (audit.plugin.ts). */
  @Column({ type: 'jsonb' })
  arguments!: Record<string, unknown>;

  @Column({ name: 'customer_id', type: 'varchar', length: 63, nullable: true })
  customerId!: string | null;

  /** `OK` or a GraphQL error code; NULL until finished. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  outcome!: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 100, nullable: true })
  requestId!: string | null;

  @Column({ name: 'client_ip', type: 'varchar', length: 64, nullable: true })
  clientIp!: string | null;
}
