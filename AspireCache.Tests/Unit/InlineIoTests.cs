using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.Unit;

/// <summary>#16: Kestrel handles requests inline exactly when the process runs with inline socket completions.</summary>
public sealed class InlineIoTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Kestrel_schedules_inline_only_with_inline_socket_completions(bool enabled)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.UseInlineIo(enabled);
        await using var app = builder.Build();

        Assert.Equal(enabled, app.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", false)]
    [InlineData("0", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_1_turns_the_runtime_switch_on_as_the_runtime_reads_it(string? value, bool on)
    {
        Assert.Equal("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", InlineIo.Variable);
        Assert.Equal(on, InlineIo.IsOn(value));
    }
}
