// What every benchmark target does around its handler: keep connections
// open between a client's warm-up and its measured phase (never close a
// socket after some number of requests), stop on SIGTERM/SIGINT (and on
// stdin's end with `--exit-on-stdin-close`, how the runner starts targets, so
// a target never outlives it), and print the port it listens on
// (127.0.0.1, port 0) as its first line.
export const serveTarget = (server) => {
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 65_000
  server.requestTimeout = 0
  server.maxRequestsPerSocket = 0
  const stop = () => {
    server.close()
    server.closeAllConnections()
    process.exit(0)
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  if (process.argv.includes("--exit-on-stdin-close")) {
    process.stdin.on("end", stop)
    process.stdin.on("error", stop)
    process.stdin.resume()
  }
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
    process.stdout.write(`${server.address().port}\n`)
  })
}
