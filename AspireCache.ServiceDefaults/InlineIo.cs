using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Inline I/O for the nodes and the router. With <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> in a
/// process's environment the runtime runs socket completions on its epoll thread instead of queueing each
/// to the thread pool; <see cref="UseInlineIo"/> then has Kestrel run request handling there too
/// (<see cref="SocketTransportOptions.UnsafePreferInlineScheduling"/>), the pairing ASP.NET Core's own
/// benchmarks use. A request is parsed and handled up to its first pending await on the thread that saw
/// its bytes arrive, without the two hand-offs to the thread pool (the runtime's, then Kestrel's pipe
/// reader's) that wake a sleeping worker each, which cost most on a small VM. The AppHost sets the variable on the nodes and the router (AspireCacheClusterOptions.InlineSocketCompletions);
/// measured in bench/README.md, "Inline socket completions". The price: code that blocks between awaits
/// delays every socket on its epoll thread, so nothing on the request path may block (ours does not;
/// a follower's snapshot install yields before its blocking file flushes).
/// </summary>
public static class InlineIo
{
    /// <summary>The runtime's switch, read once at the first socket operation; only <c>1</c> turns it on.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Whether this process runs with inline socket completions.</summary>
    public static bool Enabled { get; } = IsOn(Environment.GetEnvironmentVariable(Variable));

    /// <summary>Whether <paramref name="value"/> of <see cref="Variable"/> turns inline completions on (as the runtime reads it: only <c>1</c>).</summary>
    /// <param name="value">The variable's value, or <see langword="null"/> when unset.</param>
    public static bool IsOn(string? value) => value == "1";

    /// <summary>Kestrel handles requests inline when the process runs with inline socket completions.</summary>
    /// <param name="builder">The node's or router's builder.</param>
    public static WebApplicationBuilder UseInlineIo(this WebApplicationBuilder builder) => builder.UseInlineIo(Enabled);

    /// <summary>Kestrel handles requests inline when <paramref name="enabled"/>; otherwise nothing changes.</summary>
    /// <param name="builder">The node's or router's builder.</param>
    /// <param name="enabled">Whether the process runs with inline socket completions.</param>
    public static WebApplicationBuilder UseInlineIo(this WebApplicationBuilder builder, bool enabled)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (enabled)
        {
            builder.Services.Configure<SocketTransportOptions>(options => options.UnsafePreferInlineScheduling = true);
        }

        return builder;
    }
}
