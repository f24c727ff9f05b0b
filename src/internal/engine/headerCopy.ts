/**
 * Copies of header records (and other small records) with names added.
 *
 * V8 clones `{ ...headers }` fast, but a property the source did not have,
 * added to the clone (`{ ...headers, age }`, or a later `copy[name] =`),
 * gives the clone a map of its own: about 2 µs and a map to collect, per
 * copy, where a copy built with `Object.assign` costs 0.1–0.3 µs (measured
 * on node 20 with a 6-header record). A cache hit made one per response.
 */

/** A copy of `base` to add names to (by `copy[name] =`): a new record. */
export const copyHeaders = (base: Readonly<Record<string, string>>): Record<string, string> => Object.assign({}, base)

/** `base` with the names of `added` set (or replaced) from it: a new record. */
export const withHeaders = (
  base: Readonly<Record<string, string>>,
  added: Readonly<Record<string, string>>
): Record<string, string> => Object.assign({}, base, added)

/** `base` with `name` set to `value`: a new record. */
export const withHeader = (base: Readonly<Record<string, string>>, name: string, value: string): Record<string, string> => {
  const copy = copyHeaders(base)
  copy[name] = value
  return copy
}

/** `base` without `name` (no `delete`, which would put the copy in dictionary mode): a new record. */
export const withoutHeader = (base: Readonly<Record<string, string>>, name: string): Record<string, string> => {
  const copy: Record<string, string> = {}
  for (const key of Object.keys(base)) if (key !== name) copy[key] = base[key]!
  return copy
}
