import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

/**
 * p50/p95/p99 per bucket on a canvas (uPlot): smooth with 10,000+ points.
 * `span` is the time range shown, in seconds, whatever data it has.
 */
export function LatencyChart(props: { data: uPlot.AlignedData; span: [number, number]; height?: number }) {
  const { data, span, height = 260 } = props
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shown = useRef(span)
  shown.current = span
  useEffect(() => {
    const element = box.current
    if (!element) return
    const options: uPlot.Options = {
      width: element.clientWidth || 800,
      height,
      scales: { x: { time: true, range: () => shown.current } },
      axes: [{}, { label: 'ms', values: (_, ticks) => ticks.map((t) => `${t}`) }],
      series: [
        {},
        { label: 'p50', stroke: '#0f766e', width: 1.5, spanGaps: false },
        { label: 'p95', stroke: '#d97706', width: 1.5, spanGaps: false },
        { label: 'p99', stroke: '#dc2626', width: 1, spanGaps: false },
      ],
    }
    plot.current = new uPlot(options, data, element)
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
    // Created once; new data goes through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [height])
  useEffect(() => {
    plot.current?.setData(data)
  }, [data])
  return <div ref={box} data-testid="latency-chart" className="w-full" />
}
