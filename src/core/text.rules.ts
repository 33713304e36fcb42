/**
 * The rule for free text a user sends (names, Basic Auth credentials, query parameter names,
 * purge values): no control characters. PostgreSQL refuses NUL in text, so without this rule
 * a NUL became an internal error instead of an input error; CR and LF would split a header
 * line or a log line, and ESC sequences rewrite an operator's terminal when `cdn token list`
 * prints a name. RFC 7617 §2 forbids control characters in the Basic Auth user-id and password.
 *
 * Refused: C0 controls (U+0000–U+001F, TAB included: every field here is one line), DEL
 * (U+007F), C1 controls (U+0080–U+009F), the line and paragraph separators (U+2028, U+2029)
 * and unpaired surrogates (not Unicode text: a UTF-8 encoder silently turns them into U+FFFD,
 * so what is stored would differ from what was sent).
 */
import type { FieldProblem } from './errors';

export interface ForbiddenCharacter {
  /** 1-based position in characters (code points), as a person counts. */
  position: number;
  /** `U+001B`. */
  codePoint: string;
  kind: 'control' | 'separator' | 'surrogate';
}

// Without the `u` flag the regex sees UTF-16 code units, so unpaired surrogates can be matched.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The first character the rule refuses, or undefined when the text is clean. */
export function findForbiddenCharacter(value: string): ForbiddenCharacter | undefined {
  const match = FORBIDDEN.exec(value);
  if (match === null) return undefined;
  const unit = match[0].charCodeAt(0);
  const kind = unit >= 0xd800 && unit <= 0xdfff ? 'surrogate' : unit === 0x2028 || unit === 0x2029 ? 'separator' : 'control';
  return {
    position: [...value.slice(0, match.index)].length + 1,
    codePoint: `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`,
    kind,
  };
}

/** Whether a value can be stored as it is; a lookup key failing this cannot match anything stored. */
export function isPlainText(value: string): boolean {
  return !FORBIDDEN.test(value);
}

/**
 * The text with each refused character written as `\u{1b}`: safe to print on a terminal
 * (rows stored before this rule existed may still hold an ESC sequence).
 */
export function escapeForbidden(value: string): string {
  return value.replace(new RegExp(FORBIDDEN.source, 'g'), (ch) => `\\u{${ch.charCodeAt(0).toString(16)}}`);
}

/** A problem naming the field, the character and where it is, or none. */
export function checkText(value: string, field: string): FieldProblem[] {
  const found = findForbiddenCharacter(value);
  if (found === undefined) return [];
  const at = `${found.codePoint} at position ${found.position}`;
  const message = {
    control: `must not contain control characters (found ${at}); send the text without it`,
    separator: `must be one line: no line or paragraph separators (found ${at}); remove it`,
    surrogate: `is not valid Unicode text (found an unpaired surrogate, ${at}); send the character whole (a surrogate pair) or remove it`,
  }[found.kind];
  return [{ field, message }];
}
