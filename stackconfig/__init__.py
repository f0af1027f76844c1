"""Typed, validated stack config for Pulumi programs: the reader that collects every problem at once
(`reader`), the value rules (`rules`) and the JSON Schema editors check stack files with (`json_schema`).
Shared by the main program and the bootstrap; it imports neither."""
