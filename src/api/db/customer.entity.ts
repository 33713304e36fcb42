/** Row of the `customer` table. Persistence only: see customer.mapper.ts for the other shapes. */
import { Column, Entity, OneToMany, PrimaryColumn } from 'typeorm';
import type { QueryStringMode } from '../../core/customer.types';
import { DomainEntity } from './domain.entity';

@Entity({ name: 'customer' })
export class CustomerEntity {
  @PrimaryColumn({ type: 'varchar', length: 63 })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ name: 'origin_url', type: 'varchar', length: 2048 })
  originUrl!: string;

  @Column({ name: 'cache_ttl', type: 'integer' })
  cacheTtl!: number;

  @Column({ name: 'basic_auth_username', type: 'varchar', length: 255, nullable: true })
  basicAuthUsername!: string | null;

  /** secret-box ciphertext; the plaintext never touches the database. */
  @Column({ name: 'basic_auth_password_enc', type: 'text', nullable: true })
  basicAuthPasswordEnc!: string | null;

  /** bigint: pg hands it back as a string (PGlite may not), converted with Number() in the mapper. */
  @Column({ name: 'cache_quota_bytes', type: 'bigint', nullable: true })
  cacheQuotaBytes!: string | null;

  /** Seconds of stale-if-error the customer grants beyond the origin's; NULL: off. */
  @Column({ name: 'stale_if_error_seconds', type: 'integer', nullable: true })
  staleIfErrorSeconds!: number | null;

  @Column({ name: 'query_string_mode', type: 'varchar', length: 16, default: 'keep' })
  queryStringMode!: QueryStringMode;

  /** Parameter names kept in `allowlist` mode; empty otherwise. */
  @Column({ name: 'query_string_allow', type: 'jsonb', default: () => "'[]'" })
  queryStringAllow!: string[];

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  /** Bumped by the service on every change (1 on creation), not by TypeORM. */
  @Column({ type: 'integer' })
  version!: number;

  @OneToMany(() => DomainEntity, (d) => d.customer)
  domains!: DomainEntity[];
}
