/**
 * Every id the services hand out beyond auto-increment ones is a UUID (v7: time-ordered), as text
 * in either case. No regex flags, so that `.source` means the same inside a JSON Schema pattern.
 */
export const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
