/** @type {import('tailwindcss').Config} */
export default {
  content: ['./index.html', './src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      colors: {
        border: 'hsl(214 32% 91%)',
        muted: 'hsl(210 40% 96%)',
        'muted-foreground': 'hsl(215 16% 40%)',
        primary: 'hsl(222 47% 20%)',
        'primary-foreground': 'hsl(210 40% 98%)',
        destructive: 'hsl(0 72% 45%)',
        ring: 'hsl(221 83% 53%)',
      },
    },
  },
  plugins: [],
};
