/**
 * Measuring an operation's selections with fragments expanded, in time linear in the
 * document: each fragment is measured once and remembered, so a "fragment bomb" (fragments
 * that each spread the next one many times) cannot make a limit rule slow. A fragment cycle
 * counts as empty here; graphql-js' own NoFragmentCyclesRule reports it.
 */
import { Kind, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';

export type Fragments = (name: string) => FragmentDefinitionNode | null | undefined;

/**
 * Folds a selection set: `field(node, childValue)` gives a field's value from its own
 * selection set's value; `combine` merges the values of sibling selections.
 */
export function foldSelections(
  set: SelectionSetNode,
  fragments: Fragments,
  fold: { empty: number; field: (node: FieldNode, child: number) => number; combine: (a: number, b: number) => number },
): number {
  const memo = new Map<string, number>();
  const active = new Set<string>();
  const visit = (selections: SelectionSetNode): number => {
    let value = fold.empty;
    for (const selection of selections.selections) {
      let v: number;
      if (selection.kind === Kind.FIELD) {
        v = fold.field(selection, selection.selectionSet ? visit(selection.selectionSet) : fold.empty);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        v = visit(selection.selectionSet);
      } else {
        const name = selection.name.value;
        const known = memo.get(name);
        const fragment = fragments(name);
        if (known !== undefined) v = known;
        else if (!fragment || active.has(name)) v = fold.empty;
        else {
          active.add(name);
          v = visit(fragment.selectionSet);
          active.delete(name);
          memo.set(name, v);
        }
      }
      value = fold.combine(value, v);
    }
    return value;
  };
  return visit(set);
}

/** The root fields of a selection set, fragments and inline fragments at the root expanded. */
export function rootFields(set: SelectionSetNode, fragments: Fragments): Array<FieldNode> {
  const fields: Array<FieldNode> = [];
  const seen = new Set<string>();
  const visit = (selections: SelectionSetNode): void => {
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else {
        const fragment = fragments(selection.name.value);
        // Each fragment once: a root spread twice selects the same fields, merged by GraphQL.
        if (fragment && !seen.has(selection.name.value)) {
          seen.add(selection.name.value);
          visit(fragment.selectionSet);
        }
      }
    }
  };
  visit(set);
  return fields;
}
