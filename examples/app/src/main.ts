import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { Session } from "effect-gather"
import { layer, PokemonApi } from "./PokemonApi.js"

const program = Effect.gen(function*() {
  const api = yield* PokemonApi
  const names = yield* api.names([1, 4, 7, 25])
  yield* Console.log(names.join(", "))
})

program.pipe(
  Effect.provide(layer.pipe(Layer.provide(Session.layer({ baseUrl: "https://pokeapi.co", timeout: "5 seconds" })))),
  NodeRuntime.runMain
)
