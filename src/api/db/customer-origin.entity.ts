/** Row of the `customer_origin` table: one origin of a customer. Persistence only: see origin.store.ts. */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { HealthCheckConfig } from '../../core/origin.types';

@Entity({ name: 'customer_origin' })
export class CustomerOriginEntity {
  @PrimaryColumn({ name: 'customer_id', type: 'varchar', length: 63 })
  customerId!: string;

  /** Unique within the customer (core/origin.rules.ts). */
  @PrimaryColumn({ type: 'varchar', length: 63 })
  name!: string;

  @Column({ type: 'varchar', length: 2048 })
  url!: string;

  @Column({ name: 'basic_auth_username', type: 'varchar', length: 255, nullable: true })
  basicAuthUsername!: string | null;

  /** secret-box ciphertext; the plaintext never touches the database. */
  @Column({ name: 'basic_auth_password_enc', type: 'text', nullable: true })
  basicAuthPasswordEnc!: string | null;

  @Column({ type: 'integer' })
  priority!: number;

  @Column({ type: 'integer' })
  weight!: number;

  @Column({ name: 'host_header', type: 'varchar', length: 259, nullable: true })
  hostHeader!: string | null;

  @Column({ name: 'tls_server_name', type: 'varchar', length: 253, nullable: true })
  tlsServerName!: string | null;

  /** As validated and normalised (every field present); NULL: passive checks only. */
  @Column({ name: 'health_check', type: 'jsonb', nullable: true })
  healthCheck!: HealthCheckConfig | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  // The owning side of CustomerEntity.origins, named by string (see certificate.entity.ts).
  @ManyToOne('CustomerEntity', 'origins', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer?: { id: string };
}
