// Inline SVG icons (no icon font: the page loads nothing but its own files).

const NS = 'http://www.w3.org/2000/svg';

export function lockIcon(size = 12) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', 'M4 7V5a4 4 0 1 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 1 0-4 0v2z');
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}
