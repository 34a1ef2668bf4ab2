import IPVSCore
import IPVSTap
import Testing

@Suite("ObservedConnection")
struct ObservedConnectionTests {
    @Test("capture times order by nanoseconds")
    func captureTimesOrder() {
        #expect(CaptureTime(nanoseconds: 1) < CaptureTime(nanoseconds: 2))
        #expect(!(CaptureTime(nanoseconds: 2) < CaptureTime(nanoseconds: 2)))
    }
}
