import { Context, Effect, Layer, Schema } from "effect"
import type { FetchError } from "effect-gather"
import { Fetch, Gather, Session } from "effect-gather"

const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })

export class PokemonApi extends Context.Tag("app/PokemonApi")<PokemonApi, {
  readonly name: (id: number) => Effect.Effect<string, FetchError.FetchError>
  readonly names: (ids: ReadonlyArray<number>) => Effect.Effect<Array<string>, FetchError.FetchError>
}>() {}

// The layer captures the Session once, so the service's methods need nothing:
// the app provides Session.layer, a test provides Session.layerTest.
export const layer = Layer.effect(
  PokemonApi,
  Effect.gen(function*() {
    const session = yield* Session.Session
    const name = (id: number) =>
      Fetch.json(`/api/v2/pokemon/${id}`, Pokemon).pipe(
        Effect.map((response) => response.body.name),
        Effect.provideService(Session.Session, session)
      )
    const names = (ids: ReadonlyArray<number>) => Gather.all(ids.map(name), { concurrency: 10 })
    return { name, names }
  })
)
