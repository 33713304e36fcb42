/**
 * The portal's pages, one browser ES module each, in the order they are loaded (each registers
 * itself with portal-core's registerPage; the navigation follows each page's `order`). A new
 * page (the access log tail, as its GraphQL lands) is one module file here
 * and one entry below.
 */
import { PORTAL_ALERTS_MODULE } from './portal-alerts.module';
import { PORTAL_AUDIT_MODULE } from './portal-audit.module';
import { PORTAL_DOMAINS_MODULE } from './portal-domains.module';
import { PORTAL_KEYS_MODULE } from './portal-keys.module';
import { PORTAL_OVERVIEW_MODULE } from './portal-overview.module';
import { PORTAL_PURGE_MODULE } from './portal-purge.module';
import { PORTAL_RULES_MODULE } from './portal-rules.module';
import { PORTAL_TOP_MODULE } from './portal-top.module';
import { PORTAL_TOKENS_MODULE } from './portal-tokens.module';
import { PORTAL_WEBHOOKS_MODULE } from './portal-webhooks.module';

export const PORTAL_PAGE_MODULES: ReadonlyArray<{ name: string; source: string }> = [
  { name: 'portal-overview', source: PORTAL_OVERVIEW_MODULE },
  { name: 'portal-top', source: PORTAL_TOP_MODULE },
  { name: 'portal-alerts', source: PORTAL_ALERTS_MODULE },
  { name: 'portal-purge', source: PORTAL_PURGE_MODULE },
  { name: 'portal-domains', source: PORTAL_DOMAINS_MODULE },
  { name: 'portal-rules', source: PORTAL_RULES_MODULE },
  { name: 'portal-tokens', source: PORTAL_TOKENS_MODULE },
  { name: 'portal-keys', source: PORTAL_KEYS_MODULE },
  { name: 'portal-webhooks', source: PORTAL_WEBHOOKS_MODULE },
  { name: 'portal-audit', source: PORTAL_AUDIT_MODULE },
];
