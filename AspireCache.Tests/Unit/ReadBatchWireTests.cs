using System.Buffers;
using System.Text;

namespace AspireCache.Tests.Unit;

/// <summary>The binary format between the router and the nodes for coalesced reads (<see cref="ReadBatchWire"/>).</summary>
public sealed class ReadBatchWireTests
{
    [Fact]
    public void Keys_round_trip_in_order_including_non_ASCII_ones()
    {
        string[] keys = ["a", "config/orders/db", "ключ/値", new string('k', 1024)];
        var decoded = new List<string>();
        Assert.True(ReadBatchWire.TryDecodeRequest(new ReadOnlySequence<byte>(ReadBatchWire.EncodeRequest(keys)), 10, decoded));
        Assert.Equal(keys, decoded);
    }

    [Theory]
    [InlineData(new byte[0])]                         // no key
    [InlineData(new byte[] { 1 })]                    // half a length
    [InlineData(new byte[] { 3, 0, (byte)'a' })]      // length past the end
    [InlineData(new byte[] { 2, 0, 0xC3, 0x28 })]     // invalid UTF-8
    public void A_malformed_request_is_refused(byte[] body) =>
        Assert.False(ReadBatchWire.TryDecodeRequest(new ReadOnlySequence<byte>(body), 10, []));

    [Fact]
    public void More_keys_than_allowed_are_refused() =>
        Assert.False(ReadBatchWire.TryDecodeRequest(new ReadOnlySequence<byte>(ReadBatchWire.EncodeRequest(["a", "b", "c"])), 2, []));

    [Fact]
    public void An_answer_round_trips_found_missing_and_skipped_items()
    {
        var writer = new ArrayBufferWriter<byte>();
        ReadBatchWire.WriteHeader(writer, 1_700_000_000_123);
        ReadBatchWire.WriteFound(writer, 42, 1_700_000_000_000, 0, "hello"u8);
        ReadBatchWire.WriteStatus(writer, ReadBatchWire.NotFound);
        ReadBatchWire.WriteFound(writer, 7, 5, 9, []);
        ReadBatchWire.WriteStatus(writer, ReadBatchWire.Skipped);

        var items = new ReadBatchWire.Item[4];
        Assert.True(ReadBatchWire.TryDecodeResponse(writer.WrittenMemory, 4, out var now, items));
        Assert.Equal(1_700_000_000_123, now);
        Assert.Equal((ReadBatchWire.Found, 42L, 1_700_000_000_000L, 0L, "hello"), (items[0].Status, items[0].Version, items[0].UpdatedUnixMs, items[0].ExpiresUnixMs, Encoding.UTF8.GetString(items[0].Value.Span)));
        Assert.Equal(ReadBatchWire.NotFound, items[1].Status);
        Assert.Equal((ReadBatchWire.Found, 7L, 5L, 9L, 0), (items[2].Status, items[2].Version, items[2].UpdatedUnixMs, items[2].ExpiresUnixMs, items[2].Value.Length));
        Assert.Equal(ReadBatchWire.Skipped, items[3].Status);

        // Fewer or more items than asked for, a cut value, an unknown status: malformed (the router then forwards each GET alone).
        Assert.False(ReadBatchWire.TryDecodeResponse(writer.WrittenMemory, 5, out _, new ReadBatchWire.Item[5]));
        Assert.False(ReadBatchWire.TryDecodeResponse(writer.WrittenMemory, 3, out _, new ReadBatchWire.Item[3]));
        Assert.False(ReadBatchWire.TryDecodeResponse(writer.WrittenMemory[..20], 1, out _, new ReadBatchWire.Item[1]));
        var unknown = writer.WrittenMemory.ToArray();
        unknown[8] = 9;
        Assert.False(ReadBatchWire.TryDecodeResponse(unknown, 4, out _, items));
    }
}
