import Foundation
import Testing
import TestSupport

@testable import Kube

/// Tester t14 F12: the CRDs' `x-kubernetes-validations` rules, evaluated on the values the API
/// server would see. The rules are those of Flux's own CRDs (the recorded components manifest);
/// each is judged on objects that keep it and objects that break it, and what the evaluator does
/// not know is unknown (nil), never a rejection.
@Suite struct CELRuleTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    /// Every rule the recorded Flux v2.6.4 components hold, with the CRD it belongs to.
    static func fluxRules() throws -> [(crd: String, rule: String, message: String)] {
        let text = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        var found: [(String, String, String)] = []
        for document in try Manifest.objects(text) where document.kind == "CustomResourceDefinition" {
            func walk(_ node: JSONValue) {
                for validation in node["x-kubernetes-validations"]?.array ?? [] {
                    found.append((document.name, validation["rule"]?.string ?? "", validation["message"]?.string ?? ""))
                }
                switch node {
                case .object(let pairs): for pair in pairs where pair.key != "x-kubernetes-validations" { walk(pair.value) }
                case .array(let items): items.forEach(walk)
                default: break
                }
            }
            walk(document.json)
        }
        return found
    }

    @Test func everyRuleOfFluxsCRDsIsEvaluated() throws {
        let rules = try Self.fluxRules()
        #expect(rules.count >= 10, "\(rules.map(\.rule))")
        // Each rule parses and gives a verdict on an empty spec (no field is set).
        for rule in rules { #expect(CELRule(rule.rule).passes(.object([])) != nil, "\(rule.crd): \(rule.rule)") }
    }

    @Test func theHelmReleaseChartRuleAsTheAPIServerJudgesIt() throws {
        let rule = try #require(try Self.fluxRules().first { $0.crd == "helmreleases.helm.toolkit.fluxcd.io" && $0.rule.contains("chartRef") })
        #expect(rule.message == "either chart or chartRef must be set")
        let chart = try Self.json(#"{"interval":"10m","chart":{"spec":{"chart":"podinfo"}}}"#)
        let chartRef = try Self.json(#"{"interval":"10m","chartRef":{"kind":"OCIRepository","name":"podinfo"}}"#)
        let both = try Self.json(#"{"chart":{"spec":{"chart":"podinfo"}},"chartRef":{"kind":"OCIRepository","name":"podinfo"}}"#)
        let neither = try Self.json(#"{"interval":"10m"}"#)
        #expect(CELRule(rule.rule).passes(chart) == true)
        #expect(CELRule(rule.rule).passes(chartRef) == true)
        #expect(CELRule(rule.rule).passes(both) == false)
        #expect(CELRule(rule.rule).passes(neither) == false)
    }

    @Test func theBucketSTSRulesAsTheAPIServerJudgesThem() throws {
        // The CRD's two served versions hold the same five rules.
        var rules: [String] = []
        for rule in try Self.fluxRules() where rule.crd == "buckets.source.toolkit.fluxcd.io" && !rules.contains(rule.rule) { rules.append(rule.rule) }
        #expect(rules.count == 5)
        func verdicts(_ spec: String) throws -> [Bool?] { let value = try Self.json(spec); return rules.map { CELRule($0).passes(value) } }
        #expect(try verdicts(#"{"provider":"generic"}"#) == [true, true, true, true, true])
        #expect(try verdicts(#"{"provider":"aws","sts":{"provider":"aws","endpoint":"x"}}"#) == [true, true, true, true, true])
        // An ldap STS on an aws bucket, with a secretRef: the second rule fails, the others hold.
        #expect(try verdicts(#"{"provider":"aws","sts":{"provider":"ldap","secretRef":{"name":"s"}}}"#) == [true, false, true, true, true])
        #expect(try verdicts(#"{"provider":"gcp","sts":{"provider":"aws","secretRef":{"name":"s"}}}"#) == [false, true, true, false, true])
    }

    @Test(arguments: [
        ("self.min <= self.max", #"{"min":1,"max":5}"#, true as Bool?),
        ("self.min <= self.max", #"{"min":5,"max":1}"#, false),
        ("self.min <= self.max", #"{"min":5}"#, nil),  // no such key: an evaluation error, not judged
        ("size(self.name) <= 10 && self.name.startsWith('a')", #"{"name":"abc"}"#, true),
        ("self.name.size() <= 2 || self.name.endsWith('z')", #"{"name":"abc"}"#, false),
        ("self.mode in ['a', 'b'] ? has(self.key) : true", #"{"mode":"a"}"#, false),
        ("self.mode in ['a', 'b'] ? has(self.key) : true", #"{"mode":"c"}"#, true),
        ("self.x == 'caf\u{E9}'", #"{"x":"cafe\u0301"}"#, false),  // bytes, not canonical equivalence
        // The macros (tester t18 F4), over lists and over a map's keys, with CEL's error rules.
        ("self.items.all(i, i > 0)", #"{"items":[1,2]}"#, true),
        ("self.items.all(i, i > 0)", #"{"items":[1,-2]}"#, false),
        ("self.tags.all(t, t.size() <= 5)", #"{"tags":["a","toolongtag"]}"#, false),
        ("self.tags.exists(t, t == 'zzz')", #"{"tags":["a"]}"#, false),
        ("self.tags.exists(t, t == 'zzz')", #"{"tags":["a","zzz"]}"#, true),
        ("self.tags.exists_one(t, t == 'a')", #"{"tags":["a","a"]}"#, false),
        ("self.tags.exists_one(t, t == 'a')", #"{"tags":["a","b"]}"#, true),
        ("self.items.map(i, i + 1) == [2, 3]", #"{"items":[1,2]}"#, true),
        ("self.items.map(i, i > 1, i + 10) == [12]", #"{"items":[1,2]}"#, true),
        ("self.items.filter(i, i > 1).size() == 1", #"{"items":[1,2,3]}"#, false),
        ("self.labels.all(k, k.startsWith('app'))", #"{"labels":{"app":"x","other":"y"}}"#, false),
        ("self.items.all(i, i.x > 0)", #"{"items":[{"x":1},{}]}"#, nil),  // an error, no false: not judged
        ("self.items.all(i, i.x > 0)", #"{"items":[{"x":-1},{}]}"#, false),  // a false absorbs the error
        ("self.items.exists(i, i.x > 0)", #"{"items":[{},{"x":1}]}"#, true),
        ("self.items.all(i, self.items.exists(j, j == i))", #"{"items":[1,2]}"#, true),  // nested, self still the node
        // matches: RE2 where ICU agrees (printable ASCII), unanchored as Go's MatchString.
        ("self.tags.all(t, t.matches('^[a-z]{1,5}$'))", #"{"tags":["abc"]}"#, true),
        ("self.tags.all(t, t.matches('^[a-z]{1,5}$'))", #"{"tags":["Abc"]}"#, false),
        ("self.name.matches('b')", #"{"name":"abc"}"#, true),
        ("self.name.matches('[')", #"{"name":"abc"}"#, nil),  // a pattern RE2 refuses too
        ("self.name.matches('^a$')", #"{"name":"a\n"}"#, nil),  // a line end: ICU's $ differs from RE2's
        ("self.name.matches('^(?=a)')", #"{"name":"a"}"#, nil),  // lookahead: not RE2
        ("self.name.matches('\\w+')", #"{"name":"\u00e9"}"#, nil),  // non-ASCII: \w differs
        ("self == oldSelf", #"{"a":1}"#, nil),  // a transition rule: only on update
        ("!has(self.a) || self.a > 1", #"{}"#, true),
        ("self.a > 1 || true", #"{}"#, true),  // CEL's commutative ||: the error on the left is absorbed
    ])
    func rulesInBothDirections(rule: String, value: String, expected: Bool?) throws {
        #expect(CELRule(rule).passes(try Self.json(value)) == expected, "\(rule) on \(value)")
    }

    /// Tester t18 F4: the rules that apply and cannot be evaluated are listed (a Kubernetes
    /// library function); a transition rule, which the API server does not run on create, and an
    /// evaluated rule are not.
    @Test func rulesThatCannotBeEvaluatedAreListed() throws {
        let schema = try Self.json("""
            {"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[
              {"rule":"isURL(self.home)"},{"rule":"self.min == oldSelf.min"},{"rule":"self.min <= 3"}],
              "properties":{"min":{"type":"integer"},"home":{"type":"string"}}}}}
            """)
        let value = try Self.json(#"{"spec":{"min":1,"home":"https://example.com"}}"#)
        #expect(StructuralSchema.unevaluatedRules(value, against: schema).map(\.message) == ["isURL(self.home)"])
        #expect(StructuralSchema.unevaluatedRules(value, against: schema).map(\.field) == ["spec"])
        #expect(StructuralSchema.validate(value, against: schema).isEmpty)
        #expect(StructuralSchema.unevaluatedRules(try Self.json(#"{"other":1}"#), against: schema).isEmpty)
    }

    @Test func aFailedRuleIsAViolationAtItsNodeWithItsMessage() throws {
        let schema = try Self.json("""
            {"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"self.min <= self.max","message":"min must not exceed max"}],
              "properties":{"min":{"type":"integer"},"max":{"type":"integer"}}}}}
            """)
        let violations = StructuralSchema.validate(try Self.json(#"{"spec":{"min":5,"max":1}}"#), against: schema)
        #expect(violations.map(\.field) == ["spec"])
        #expect(violations.first?.message == #"Invalid value: "object": min must not exceed max"#)
        #expect(StructuralSchema.validate(try Self.json(#"{"spec":{"min":1,"max":5}}"#), against: schema).isEmpty)
    }
}
