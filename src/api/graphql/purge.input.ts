/**
 * Input of `purgeCache`. Only shapes here: the rules (value per kind, domains, lengths,
 * timeout range) are the service's (services/purge.validation.ts), so every problem comes
 * back at once with the same messages.
 */
import { Field, ID, InputType, Int } from 'type-graphql';
import { PURGE_VALUE_MAX_CHARS } from '../../core/purge.types';
import { PURGE_WAIT_TIMEOUT_DEFAULT_MS, PURGE_WAIT_TIMEOUT_MAX_MS } from '../services/purge.validation';
import { PurgeKind } from './purge.type';

@InputType()
export class PurgeInput {
  @Field(() => ID)
  customerId!: string;

  @Field(() => PurgeKind)
  kind!: PurgeKind;

  @Field(() => String, {
    nullable: true,
    description:
      `URL and PREFIX: a path starting with "/" (/img/logo.png, /img/), or an absolute http(s) URL on one of the customer's domains (kept as its path?query). ` +
      `TAG: one tag, without spaces or commas. ALL: leave out. At most ${PURGE_VALUE_MAX_CHARS} characters.`,
  })
  value?: string | null;

  @Field({ defaultValue: false, description: 'Mark stale (the next request revalidates with the origin) instead of removing.' })
  soft!: boolean;

  @Field({
    defaultValue: false,
    description: 'Answer only once every live edge has applied the purge, or when waitTimeoutMs has passed; then `edges` shows the live edges that have not (appliedAt null) and `completedAt` is null.',
  })
  waitForEdges!: boolean;

  @Field(() => Int, { defaultValue: PURGE_WAIT_TIMEOUT_DEFAULT_MS, description: `With waitForEdges: the longest wait, in milliseconds, 1 to ${PURGE_WAIT_TIMEOUT_MAX_MS}.` })
  waitTimeoutMs!: number;
}
