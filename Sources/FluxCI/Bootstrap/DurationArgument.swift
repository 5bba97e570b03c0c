import ArgumentParser

/// `90s`, `10m`, `1h30m`, as Go and Flux write durations.
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration
    let text: String

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    init?(argument: String) {
        var total = 0.0, number = ""
        for character in argument {
            if character.isNumber || character == "." { number.append(character); continue }
            guard let value = Double(number) else { return nil }
            switch character {
            case "h": total += value * 3600
            case "m": total += value * 60
            case "s": total += value
            default: return nil
            }
            number = ""
        }
        guard number.isEmpty, total > 0 else { return nil }
        duration = .milliseconds(Int64(total * 1000))
        text = argument
    }

    var description: String { text }
    static var defaultCompletionKind: CompletionKind { .default }
}
