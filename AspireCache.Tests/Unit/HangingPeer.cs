using System.Diagnostics;

namespace AspireCache.Tests.Unit;

/// <summary>A peer that accepted the connection and answers nothing (a paused process, a frozen host): every request waits until it is cancelled.</summary>
internal sealed class HangingPeer : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new UnreachableException();
    }
}
