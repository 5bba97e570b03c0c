/// fluxci's version, shown by `--version` on every command.
public let fluxciVersion = "0.1.0"
