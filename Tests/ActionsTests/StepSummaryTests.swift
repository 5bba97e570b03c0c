import Testing

@testable import Actions

@Suite struct StepSummaryTests {
    @Test func tablesEscapeUntrustedCells() {
        var summary = StepSummary()
        summary.heading("Files")
        summary.table(header: ["File", "Result"], rows: [["a|b.yaml", "<script>x</script>\nsecond line"]])
        #expect(summary.markdown() == """
            ## Files

            | File | Result |
            | --- | --- |
            | a\\|b.yaml | &lt;script&gt;x&lt;/script&gt;<br>second line |


            """)
    }

    @Test func detailsAndCode() {
        var summary = StepSummary()
        summary.details("Events", [.code("a ``` b")])
        #expect(summary.markdown() == "<details><summary>Events</summary>\n\n````\na ``` b\n````\n\n</details>\n\n")
    }

    @Test func staysUnderTheLimitAndSaysWhatItCut() {
        var summary = StepSummary()
        summary.heading("Many")
        summary.table(header: ["n"], rows: (0..<50_000).map { ["row number \($0) with some padding text"] })
        let markdown = summary.markdown()
        #expect(markdown.utf8.count <= StepSummary.maximumBytes)
        #expect(markdown.contains("| row number 0 with some padding text |"))
        #expect(!markdown.contains("| row number 49999 "))
        #expect(markdown.contains("The summary was cut"))
    }

    /// A terminal gets no Mermaid, and no heading left titling nothing (seen at the end of
    /// `e2e --plan`: an empty "What a run waits for" section).
    @Test func plainTextLeavesOutTheGraphAndItsHeading() {
        var summary = StepSummary()
        summary.heading("What a run waits for", level: 3)
        summary.mermaid("flowchart LR\n  a --> b")
        summary.heading("Objects", level: 3)
        summary.mermaid("flowchart LR\n  c --> d")
        summary.paragraph("kept")
        let text = summary.plainText
        #expect(!text.contains("What a run waits for") && !text.contains("flowchart"), "\(text)")
        #expect(text.contains("Objects") && text.contains("kept"), "a heading over more than a graph stays: \(text)")
        #expect(summary.markdown().contains("What a run waits for") && summary.markdown().contains("```mermaid"), "GitHub gets both")
    }

    @Test func plainTextAlignsColumns() {
        var summary = StepSummary()
        summary.table(header: ["Name", "Ready"], rows: [["apps", "True"], ["infrastructure", "False"]])
        #expect(summary.plainText == """
            Name            Ready
            --------------  -----
            apps            True
            infrastructure  False

            """)
    }
}
