/** Row of the `customer` table. Persistence only: see customer.mapper.ts for the other shapes. */
import { Column, Entity, OneToMany, PrimaryColumn } from 'typeorm';
import type { QueryStringMode } from '../../core/customer.types';
import type { DeliveryRule } from '../../core/delivery-rules.types';
import type { OriginPolicy } from '../../core/origin.types';
import { AcmeChallengeEntity } from './acme-challenge.entity';
import { CertificateEntity } from './certificate.entity';
import { CustomerOriginEntity } from './customer-origin.entity';
import { DomainEntity } from './domain.entity';
import { SigningKeyEntity } from './signing-key.entity';

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

  /** Plain HTTP redirected to HTTPS: true always, false never, NULL: when a valid certificate covers the host (core/tls.types.ts). */
  @Column({ name: 'https_redirect', type: 'boolean', nullable: true })
  httpsRedirect!: boolean | null;

  /** Strict-Transport-Security max-age in seconds; NULL: no HSTS (the two flags below are then ignored). */
  @Column({ name: 'hsts_max_age', type: 'integer', nullable: true })
  hstsMaxAge!: number | null;

  @Column({ name: 'hsts_include_subdomains', type: 'boolean', default: false })
  hstsIncludeSubdomains!: boolean;

  @Column({ name: 'hsts_preload', type: 'boolean', default: false })
  hstsPreload!: boolean;

  /** The customer's delivery rules in order, as validated and normalised (core/delivery-rules.rules.ts). */
  @Column({ name: 'delivery_rules', type: 'jsonb', default: () => "'[]'" })
  deliveryRules!: DeliveryRule[];

  /** Media types compressed in addition to the edge's built-in list. */
  @Column({ name: 'compress_types', type: 'jsonb', default: () => "'[]'" })
  compressTypes!: string[];

  /** How the customer's origins are used; NULL: every edge default. */
  @Column({ name: 'origin_policy', type: 'jsonb', nullable: true })
  originPolicy!: OriginPolicy | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  /** Bumped by the service on every change (1 on creation), not by TypeORM. */
  @Column({ type: 'integer' })
  version!: number;

  @OneToMany(() => DomainEntity, (d) => d.customer)
  domains!: DomainEntity[];

  @OneToMany(() => CertificateEntity, (c) => c.customer)
  certificates?: CertificateEntity[];

  @OneToMany(() => AcmeChallengeEntity, (c) => c.customer)
  acmeChallenges?: AcmeChallengeEntity[];

  @OneToMany(() => SigningKeyEntity, (k) => k.customer)
  signingKeys?: SigningKeyEntity[];

  /** Every origin (customer_origin); origin_url and the Basic Auth columns above are the preferred one's. */
  @OneToMany(() => CustomerOriginEntity, (o) => o.customer)
  origins?: CustomerOriginEntity[];
}
