import { expect, expectTypeOf, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Fetch from "../src/Fetch.js"
import * as FetchModule from "../src/Fetch.js"
import type * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import type * as Session from "../src/Session.js"
import { serverAndSession } from "./support.js"

const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })
type Pokemon = typeof Pokemon.Type

class Boom {
  readonly _tag = "Boom"
}

// Checked by `npm run typecheck` (expectTypeOf does nothing at run time).
const typeChecks = () => {
  const pair = Gather.all([FetchModule.json("/api/v2/pokemon/1", Pokemon), FetchModule.text("/index")])
  expectTypeOf(pair).toEqualTypeOf<
    Effect.Effect<[Fetch.FetchResponse<Pokemon>, Fetch.FetchResponse<string>], FetchError.FetchError, Session.Session>
  >()

  const mixed = Gather.all([Effect.succeed(1), Effect.fail(new Boom()), Effect.succeed("a" as const)], { concurrency: 2 })
  expectTypeOf(mixed).toEqualTypeOf<Effect.Effect<[number, never, "a"], Boom, never>>()

  const named = Gather.all({ pokemon: FetchModule.json("/api/v2/pokemon/1", Pokemon), n: Effect.succeed(1) })
  expectTypeOf(named).toEqualTypeOf<
    Effect.Effect<{ pokemon: Fetch.FetchResponse<Pokemon>; n: number }, FetchError.FetchError, Session.Session>
  >()

  const outcomes = Gather.settle([FetchModule.get("/x"), Effect.fail(new Boom())])
  expectTypeOf(outcomes).toEqualTypeOf<
    Effect.Effect<
      [Either.Either<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError>, Either.Either<never, Boom>],
      never,
      Session.Session
    >
  >()

  const namedOutcomes = Gather.settle({ a: Effect.succeed(1), b: Effect.fail("no" as const) })
  expectTypeOf(namedOutcomes).toEqualTypeOf<
    Effect.Effect<{ a: Either.Either<number, never>; b: Either.Either<never, "no"> }, never, never>
  >()

  // Arrays and other iterables keep giving arrays.
  const urls: Array<string> = ["/a", "/b"]
  expectTypeOf(Gather.all(urls.map((u) => FetchModule.text(u)))).toEqualTypeOf<
    Effect.Effect<Array<Fetch.FetchResponse<string>>, FetchError.FetchError, Session.Session>
  >()
  expectTypeOf(Gather.all(new Set([Effect.succeed(1)]))).toEqualTypeOf<Effect.Effect<Array<number>, never, never>>()
  expectTypeOf(Gather.settle(urls.map((u) => FetchModule.get(u)))).toEqualTypeOf<
    Effect.Effect<Array<Either.Either<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError>>, never, Session.Session>
  >()

  // @ts-expect-error a tuple must hold effects
  Gather.all([Effect.succeed(1), 2])
}
void typeChecks

layer(serverAndSession(), { excludeTestServices: true })("Gather tuples and records", (it) => {
  it.effect("all of a mixed tuple gives each value at its position", () =>
    Effect.gen(function*() {
      const [pokemon, index, n] = yield* Gather.all([
        FetchModule.json("/api/v2/pokemon/25", Pokemon),
        FetchModule.text("/index"),
        Effect.succeed(7)
      ], { concurrency: 3 })
      expect(pokemon.body).toEqual({ id: 25, name: "pikachu" })
      expect(index.body).toContain("<html")
      expect(n).toBe(7)
    }))

  it.effect("all of a record gives a record with the same keys", () =>
    Effect.gen(function*() {
      const result = yield* Gather.all({
        second: FetchModule.json("/api/v2/pokemon/2", Pokemon),
        first: FetchModule.json("/api/v2/pokemon/1", Pokemon),
        count: Effect.succeed(2)
      })
      expect(Object.keys(result)).toEqual(["second", "first", "count"])
      expect(result.first.body.name).toBe("bulbasaur")
      expect(result.second.body.name).toBe("ivysaur")
      expect(result.count).toBe(2)
    }))

  it.effect("all of a record fails fast with the typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Gather.all({ ok: FetchModule.get("/status/200"), bad: FetchModule.get("/status/404") }))
      expect(error._tag).toBe("BadStatus")
    }))

  it.effect("settle of a tuple and of a record gives an Either per position or key", () =>
    Effect.gen(function*() {
      const [ok, bad] = yield* Gather.settle([FetchModule.get("/status/200"), FetchModule.get("/status/503")])
      expect(Either.isRight(ok) && ok.right.status).toBe(200)
      expect(Either.isLeft(bad) && bad.left._tag).toBe("BadStatus")
      const named = yield* Gather.settle({ boom: Effect.fail(new Boom()), one: Effect.succeed(1) })
      expect(Either.isLeft(named.boom) && named.boom.left._tag).toBe("Boom")
      expect(named.one).toEqual(Either.right(1))
    }))

  it.effect("an empty record gives an empty record", () =>
    Effect.gen(function*() {
      expect(yield* Gather.all({})).toEqual({})
      expect(yield* Gather.settle({})).toEqual({})
    }))
})
