const utf8 = new TextDecoder("utf-8")

const charsetOf = (contentType: string | undefined): string | undefined => {
  if (contentType === undefined) return undefined
  const match = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)
  return match === null ? undefined : match[1]!.toLowerCase()
}

/** Decodes bytes as text by the response's charset (UTF-8 unless it names another). */
export const decodeText = (bytes: Uint8Array, contentType: string | undefined): string => {
  const charset = charsetOf(contentType)
  if (charset === undefined || charset === "utf-8" || charset === "utf8") return utf8.decode(bytes)
  try {
    return new TextDecoder(charset).decode(bytes)
  } catch {
    return utf8.decode(bytes)
  }
}
