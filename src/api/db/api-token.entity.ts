/** Row of the `api_token` table: a token's metadata and the SHA-256 of the token (never the token). */
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Role } from '../../core/roles';

@Entity({ name: 'api_token' })
export class ApiTokenEntity {
  /** Also the token's `jti` claim. */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  role!: Role;

  /** Set exactly for customer roles. */
  @Column({ name: 'customer_id', type: 'varchar', length: 63, nullable: true })
  customerId!: string | null;

  /** Hex SHA-256 of the whole token as issued. */
  @Column({ name: 'token_sha256', type: 'char', length: 64 })
  tokenSha256!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** Who created it: `admin-token` (the bootstrap credential), `cli`, or `token:<id>`. */
  @Column({ name: 'created_by', type: 'varchar', length: 200, nullable: true })
  createdBy!: string | null;
}
