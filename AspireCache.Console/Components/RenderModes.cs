using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;

namespace AspireCache.Console.Components;

/// <summary>
/// Interactive server rendering without prerendering: a page renders once, in its circuit, so its
/// calls to the cluster (and its watch streams) start once, with the operator's session.
/// </summary>
public static class RenderModes
{
    public static readonly IComponentRenderMode Interactive = new InteractiveServerRenderMode(prerender: false);
}
