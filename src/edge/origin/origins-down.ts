/**
 * The origins one edge process holds down now, as its heartbeat lists them (core/fleet.port.ts,
 * EdgeStatus.originsDown): read from the breakers themselves at each beat, so an origin removed
 * by a change, or a deleted customer's, is not listed a beat longer than it exists.
 */
import type { OriginDown } from '../../core/fleet.port';
import type { OriginHealth } from './origin-health';

export function originsDown(health: OriginHealth): OriginDown[] {
  const down: OriginDown[] = [];
  for (const s of health.states()) {
    if (s.up) continue;
    const report = health.report(s.customer)?.find((o) => o.origin === s.origin);
    if (report !== undefined) down.push({ customerId: s.customer, origin: s.origin, since: report.since, reason: report.reason ?? '' });
  }
  return down;
}
