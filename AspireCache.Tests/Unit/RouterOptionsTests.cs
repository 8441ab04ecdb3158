using System.ComponentModel.DataAnnotations;
using AspireCache.Router;

namespace AspireCache.Tests.Unit;

/// <summary>The router's settings are checked at start, the coalescing sections' limits included.</summary>
public sealed class RouterOptionsTests
{
    [Fact]
    public void The_defaults_are_valid() => Assert.Empty(Validate(new RouterOptions { Nodes = ["node1"] }));

    [Theory]
    [InlineData("read", nameof(ReadCoalescingOptions.MaxBatchKeys))]
    [InlineData("read", nameof(ReadCoalescingOptions.MaxInFlight))]
    [InlineData("read", nameof(ReadCoalescingOptions.Timeout))]
    [InlineData("write", nameof(WriteCoalescingOptions.MaxBatchWrites))]
    [InlineData("write", nameof(WriteCoalescingOptions.MaxQueuedBytes))]
    [InlineData("write", nameof(WriteCoalescingOptions.Timeout))]
    public void A_coalescing_limit_of_zero_is_refused(string section, string setting)
    {
        var options = new RouterOptions { Nodes = ["node1"] };
        object target = section == "read" ? options.ReadCoalescing : options.WriteCoalescing;
        var property = target.GetType().GetProperty(setting)!;
        property.SetValue(target, property.PropertyType == typeof(TimeSpan) ? TimeSpan.Zero : Convert.ChangeType(0, property.PropertyType, System.Globalization.CultureInfo.InvariantCulture));

        var errors = Validate(options);
        Assert.Contains(errors, e => e.MemberNames.Any(m => m.EndsWith("." + setting, StringComparison.Ordinal)));
    }

    private static List<ValidationResult> Validate(RouterOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
