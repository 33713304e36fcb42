/** An API token's metadata as stored (never the token; its hash stays in db/). */
import type { Role } from '../../core/roles';

export interface ApiTokenRecord {
  /** Also the token's `jti` claim. */
  id: string;
  name: string;
  role: Role;
  /** Set exactly for customer roles. */
  customerId: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  /** Who created it: `admin-token` (the bootstrap credential), `cli`, or `token:<id>`. */
  createdBy: string | null;
}
